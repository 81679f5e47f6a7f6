// The composition root: `po start`, `po-api` and `po-runner` run the service through here.
export { runService, runServiceBin } from './run.ts';
export { type Service, type ServiceMode, type ServiceOptions, startService } from './start-service.ts';
