/**
 * The house Lambda function: Node.js 24 on arm64 (bundled for Node 22 and later), ESM, minified, fully
 * bundled, X-Ray tracing, JSON logs kept for a set time. Each records its source entry as resource
 * metadata, which is how the local cloud finds the code a function in the template runs.
 */
import * as path from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Architecture, type CfnFunction, LoggingFormat, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, type NodejsFunctionProps, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { BuildOptions } from 'esbuild';
import { ESM_REQUIRE_SHIM } from '../containers/runner/build.ts';
import { ENTRY_METADATA, LAMBDAS_DIR, REPO_ROOT } from './repo.ts';

export { ENTRY_METADATA, LAMBDAS_DIR, REPO_ROOT };

export interface HouseFunctionProps extends Omit<NodejsFunctionProps, 'entry' | 'runtime'> {
  /** handler file under lambdas/handlers, without extension */
  readonly handlerFile: string;
  readonly logRetention: RetentionDays;
}

/**
 * Modules swapped when a function is bundled (paths relative to the repository root, where the stack's
 * esbuild runs): the SDK's default credential chain becomes the environment's credentials, which is
 * where Lambda puts them (lambdas/shared/env-credentials.ts).
 */
export const LAMBDA_ALIASES: Readonly<Record<string, string>> = {
  '@aws-sdk/credential-provider-node': './lambdas/shared/env-credentials.ts',
};

/** Esbuild options of the stack's functions (NodejsFunction's names). */
export const BUNDLING = {
  format: OutputFormat.ESM,
  minify: true,
  sourceMap: true,
  target: 'node22',
  mainFields: ['module', 'main'],
  banner: ESM_REQUIRE_SHIM,
  externalModules: [] as string[],
  esbuildArgs: { '--alias': Object.entries(LAMBDA_ALIASES).map(([from, to]) => `${from}=${to}`) },
};

/**
 * The same bundle through esbuild's API, for the benchmark and the tests that build and run what the
 * stack deploys (source maps left out).
 */
export function lambdaBuildOptions(handlerFile: string): BuildOptions {
  return {
    entryPoints: [path.join(LAMBDAS_DIR, 'handlers', `${handlerFile}.ts`)],
    bundle: true,
    platform: 'node',
    target: BUNDLING.target,
    format: 'esm',
    minify: BUNDLING.minify,
    mainFields: BUNDLING.mainFields,
    external: BUNDLING.externalModules,
    banner: { js: BUNDLING.banner },
    alias: Object.fromEntries(
      Object.entries(LAMBDA_ALIASES).map(([from, to]) => [from, path.join(REPO_ROOT, to)]),
    ),
    logLevel: 'silent',
  };
}

export class HouseFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: HouseFunctionProps) {
    const { handlerFile, logRetention, environment, ...rest } = props;
    const logGroup = new LogGroup(scope, `${id}Logs`, {
      retention: logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const entry = path.join(LAMBDAS_DIR, 'handlers', `${handlerFile}.ts`);
    super(scope, id, {
      entry,
      handler: 'handler',
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: 512,
      timeout: Duration.seconds(30),
      tracing: Tracing.ACTIVE,
      loggingFormat: LoggingFormat.JSON,
      logGroup,
      depsLockFilePath: path.join(REPO_ROOT, 'package-lock.json'),
      projectRoot: REPO_ROOT,
      bundling: { ...BUNDLING, sourcesContent: false },
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: `trainstack-${handlerFile}`,
        ...environment,
      },
      ...rest,
    });
    (this.node.defaultChild as CfnFunction).addMetadata(
      ENTRY_METADATA,
      path.relative(REPO_ROOT, entry).split(path.sep).join('/'),
    );
  }
}
