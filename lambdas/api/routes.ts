/**
 * Every route of the HTTP API, by surface: the service's own (`meta`), `/v1` (tasks, batches, stats, models),
 * the seed 000/001 training API and the seed 004 LLM scheduler API. A new surface is a module exporting its `Route[]`, added here.
 */
import { batchRoutes } from './batches.ts';
import { metaRoutes } from './meta.ts';
import { modelRoutes } from './models.ts';
import { compile, type Route } from './router.ts';
import { seedLlmRoutes } from './seed-llm.ts';
import { seedTrainRoutes } from './seed-train.ts';
import { v1Routes } from './v1.ts';

export const ROUTES: readonly Route[] = [
  ...metaRoutes,
  ...v1Routes,
  ...batchRoutes,
  ...modelRoutes,
  ...seedTrainRoutes,
  ...seedLlmRoutes,
];

export const COMPILED_ROUTES = compile(ROUTES);
