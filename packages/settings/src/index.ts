export { describeSettings, type LoadSettingsOptions, loadSettings, SettingsError } from './load.ts';
export { DEPRECATED_ENVIRONMENT, ENVIRONMENT, type Settings, settingsSchema } from './schema.ts';
