export { type Config, ConfigError, loadConfig } from './config.js';
export { type Db, migrateToLatest, openDatabase, pendingMigrations } from './db/database.js';
export { reportCrash } from './integrations/sentry.js';
export { runServer, runWorker } from './main.js';
export { buildApp, type RunningServer, startServer, VERSION } from './server.js';
