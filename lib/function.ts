/** The house Lambda function: Node 22 on arm64, ESM, minified, fully bundled, logs kept for a set time. */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Architecture, LoggingFormat, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, type NodejsFunctionProps, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { ESM_REQUIRE_SHIM } from '../containers/runner/build.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
export const LAMBDAS_DIR = path.resolve(here, '..', 'lambdas');
export const REPO_ROOT = path.resolve(here, '..');

export interface HouseFunctionProps extends Omit<NodejsFunctionProps, 'entry' | 'runtime'> {
  /** handler file under lambdas/handlers, without extension */
  handlerFile: string;
  logRetention: RetentionDays;
}

/** Esbuild options shared by the stack and the bundle benchmark. */
export const BUNDLING = {
  format: OutputFormat.ESM,
  minify: true,
  sourceMap: true,
  target: 'node22',
  mainFields: ['module', 'main'],
  banner: ESM_REQUIRE_SHIM,
  externalModules: [] as string[],
};

export class HouseFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: HouseFunctionProps) {
    const { handlerFile, logRetention, environment, ...rest } = props;
    const logGroup = new LogGroup(scope, `${id}Logs`, {
      retention: logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    super(scope, id, {
      entry: path.join(LAMBDAS_DIR, 'handlers', `${handlerFile}.ts`),
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
  }
}
