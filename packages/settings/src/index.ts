export { describeSettings, type LoadSettingsOptions, loadSettings, SettingsError } from './load.ts';
export { ENVIRONMENT, type Settings, settingsSchema } from './schema.ts';
