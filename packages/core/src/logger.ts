/**
 * The logger every po package takes (pino's call shape: fields first, then the message). Libraries
 * never print: they take one of these, silent by default; apps pass pino.
 */
export interface Logger {
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
}

const ignore = () => {};

/** A logger that drops everything: the default of every library. */
export const silentLogger: Logger = Object.freeze({
  debug: ignore,
  info: ignore,
  warn: ignore,
  error: ignore,
});
