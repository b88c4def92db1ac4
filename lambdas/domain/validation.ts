/**
 * The API's request validation is zod/mini: its schemas and checks are plain functions, so a bundle
 * keeps only the ones it uses, and building the schemas when a module loads costs less than zod
 * classic's (which gives every schema its methods; about 10 ms less for the API's, measured). zod/mini has no messages of its own until a
 * locale is configured: importing this module configures English, so a 400 reads as it always has
 * ("Too small: expected number to be >=60"), and gives the shapes the schemas repeat.
 */

import * as z from 'zod/mini';
import { $ZodError } from 'zod/v4/core';
import en from 'zod/v4/locales/en.js';

z.config(en());

/** An integer within [min, max]. */
export const int = (min: number, max: number) => z.number().check(z.int(), z.minimum(min), z.maximum(max));

/** A number within [min, max]. */
export const num = (min: number, max: number) => z.number().check(z.minimum(min), z.maximum(max));

/** A string of min to max characters. */
export const str = (min: number, max: number) => z.string().check(z.minLength(min), z.maxLength(max));

/** A query string's integer within [min, max] (query values arrive as strings). */
export const queryInt = (min: number, max: number) =>
  z.coerce.number().check(z.int(), z.minimum(min), z.maximum(max));

/** The error a failed parse throws, whichever zod built the schema. */
export const ValidationIssues = $ZodError;
