/**
 * Every route of the HTTP API, by surface: the service's own (`meta`), `/v1`, and the seed 000/001
 * training API. A new surface is a module exporting its `Route[]`, added here.
 */
import { metaRoutes } from './meta.ts';
import { modelRoutes } from './models.ts';
import { compile, type Route } from './router.ts';
import { seedTrainRoutes } from './seed-train.ts';
import { v1Routes } from './v1.ts';

export const ROUTES: readonly Route[] = [...metaRoutes, ...v1Routes, ...modelRoutes, ...seedTrainRoutes];

export const COMPILED_ROUTES = compile(ROUTES);
