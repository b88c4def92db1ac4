/** The HTTP API: IAM authorization on every route but GET /health, access logs and throttling. */
import { CfnOutput, RemovalPolicy } from 'aws-cdk-lib';
import {
  type CfnStage,
  HttpApi,
  HttpMethod,
  HttpNoneAuthorizer,
  LogGroupLogDestination,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { ManagedPolicy, PolicyStatement, Role } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ROUTES } from '../lambdas/api/routes.ts';

export interface ApiProps {
  /** the function behind every route (it routes by path itself) */
  readonly handler: IFunction;
  readonly logRetention: RetentionDays;
  /** steady requests per second of the default stage */
  readonly throttleRate: number;
  /** burst of the default stage */
  readonly throttleBurst: number;
  /** IAM principals (role ARNs) given the invoke policy. @default none */
  readonly adminRoleArns?: string[];
}

export class Api extends Construct {
  readonly httpApi: HttpApi;
  readonly invokePolicy: ManagedPolicy;
  readonly accessLogs: LogGroup;

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);
    const integration = new HttpLambdaIntegration('Integration', props.handler);
    this.httpApi = new HttpApi(this, 'HttpApi', {
      description: 'trainstack: submit and watch GPU tasks',
      defaultAuthorizer: new HttpIamAuthorizer(),
      createDefaultStage: true,
    });
    // the handler's route table: every route it serves, with its authorization
    for (const r of ROUTES) {
      this.httpApi.addRoutes({
        path: r.path,
        methods: [HttpMethod[r.method]],
        integration,
        ...(r.auth === 'none' ? { authorizer: new HttpNoneAuthorizer() } : {}),
      });
    }

    this.accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const defaultStage = this.httpApi.defaultStage;
    if (!defaultStage) throw new Error('the HTTP API has no default stage');
    const stage = defaultStage.node.defaultChild as CfnStage;
    stage.accessLogSettings = {
      destinationArn: new LogGroupLogDestination(this.accessLogs).bind(defaultStage).destinationArn,
      format: JSON.stringify({
        requestId: '$context.requestId',
        ip: '$context.identity.sourceIp',
        caller: '$context.identity.caller',
        user: '$context.identity.userArn',
        requestTime: '$context.requestTime',
        method: '$context.httpMethod',
        path: '$context.path',
        status: '$context.status',
        latency: '$context.responseLatency',
        error: '$context.error.message',
        integrationError: '$context.integrationErrorMessage',
      }),
    };
    stage.defaultRouteSettings = {
      throttlingRateLimit: props.throttleRate,
      throttlingBurstLimit: props.throttleBurst,
    };

    this.invokePolicy = new ManagedPolicy(this, 'InvokePolicy', {
      description: 'Call the trainstack API',
      statements: [
        new PolicyStatement({
          actions: ['execute-api:Invoke'],
          resources: [this.httpApi.arnForExecuteApi('*', '/*', '*')],
        }),
      ],
    });
    for (const [i, arn] of (props.adminRoleArns ?? []).entries()) {
      // roles named by the user: imported, so the stack never changes their trust policy
      this.invokePolicy.attachToRole(Role.fromRoleArn(this, `Admin${i}`, arn, { mutable: false }));
    }
    // stack outputs under plain names, as the README gives them
    new CfnOutput(this, 'ApiUrl', {
      value: this.httpApi.apiEndpoint,
      description: 'trainstack API URL',
    }).overrideLogicalId('ApiUrl');
    new CfnOutput(this, 'InvokePolicyArn', { value: this.invokePolicy.managedPolicyArn }).overrideLogicalId(
      'InvokePolicyArn',
    );
  }
}
