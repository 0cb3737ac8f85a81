import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { buildDataSourceOptions, databaseSettingsFromEnv } from './database/data-source-options';
import { entities } from './entities';

/** For the TypeORM CLI (`migration:generate`): same options as the app. */
export const dataSource = new DataSource(
  buildDataSourceOptions(databaseSettingsFromEnv(process.env), entities),
);
