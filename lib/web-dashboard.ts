/**
 * The web dashboard, deployed: the built bundle (dashboard/build.ts) in a private bucket behind
 * CloudFront (origin access control, HTTPS only, security headers with a content security policy),
 * and sign-in through a Cognito user pool (hosted sign-in, authorization code with PKCE, no self
 * sign-up: an admin invites people) and identity pool. A signed-in person's AWS credentials come
 * from the identity pool's authenticated role, which holds the API's invoke policy and nothing else:
 * the browser signs each request with SigV4, so IAM stays the API's one authority, and the API knows
 * each person by their Cognito identity (lambdas/api/http.ts). `config.json` beside the page says
 * where the API, the events URL and the sign-in are; nothing is baked into the bundle.
 */
import { CfnOutput, DockerImage, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import {
  AllowedMethods,
  Distribution,
  HeadersFrameOption,
  HeadersReferrerPolicy,
  ResponseHeadersPolicy,
  ViewerProtocolPolicy,
} from 'aws-cdk-lib/aws-cloudfront';
import { S3BucketOrigin } from 'aws-cdk-lib/aws-cloudfront-origins';
import {
  AccountRecovery,
  Mfa,
  OAuthScope,
  UserPool,
  type UserPoolClient,
  type UserPoolDomain,
} from 'aws-cdk-lib/aws-cognito';
import { IdentityPool, UserPoolAuthenticationProvider } from 'aws-cdk-lib/aws-cognito-identitypool';
import type { IManagedPolicy } from 'aws-cdk-lib/aws-iam';
import { BlockPublicAccess, Bucket, BucketEncryption, type IBucket } from 'aws-cdk-lib/aws-s3';
import { BucketDeployment, Source } from 'aws-cdk-lib/aws-s3-deployment';
import { Construct } from 'constructs';
import { DASHBOARD_DIR, writeDashboardSync } from '../dashboard/build.ts';

export interface WebDashboardProps {
  /** the API's base URL */
  readonly apiUrl: string;
  /** the events function URL */
  readonly eventsUrl?: string;
  /** what a signed-in person may do: the API's invoke policy */
  readonly invokePolicy: IManagedPolicy;
  /** the hosted sign-in's domain prefix (<prefix>.auth.<region>.amazoncognito.com), unique in the region */
  readonly signInDomainPrefix: string;
  /** where the buckets' access logs go */
  readonly accessLogs: IBucket;
}

export class WebDashboard extends Construct {
  readonly url: string;
  readonly distribution: Distribution;
  readonly userPool: UserPool;
  readonly client: UserPoolClient;
  readonly identityPool: IdentityPool;
  readonly deployment: BucketDeployment;
  readonly domain: UserPoolDomain;
  readonly site: Bucket;

  constructor(scope: Construct, id: string, props: WebDashboardProps) {
    super(scope, id);
    const region = Stack.of(this).region;
    this.site = new Bucket(this, 'Site', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      serverAccessLogsBucket: props.accessLogs,
      serverAccessLogsPrefix: 'dashboard/',
      removalPolicy: RemovalPolicy.DESTROY,
      autoDeleteObjects: true,
    });
    const site = this.site;
    const headers = new ResponseHeadersPolicy(this, 'Headers', {
      comment: 'trainstack dashboard: security headers',
      securityHeadersBehavior: {
        contentSecurityPolicy: {
          override: true,
          contentSecurityPolicy: [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            // the API, the events function URL, Cognito (identity pool and hosted sign-in)
            `connect-src 'self' https://*.execute-api.${region}.amazonaws.com https://*.lambda-url.${region}.on.aws https://cognito-identity.${region}.amazonaws.com https://*.auth.${region}.amazoncognito.com`,
            "frame-ancestors 'none'",
            "base-uri 'self'",
            `form-action 'self' https://*.auth.${region}.amazoncognito.com`,
          ].join('; '),
        },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: HeadersFrameOption.DENY, override: true },
        referrerPolicy: { referrerPolicy: HeadersReferrerPolicy.NO_REFERRER, override: true },
        strictTransportSecurity: {
          accessControlMaxAge: Duration.days(365),
          includeSubdomains: true,
          override: true,
        },
      },
    });
    this.distribution = new Distribution(this, 'Cdn', {
      comment: 'trainstack dashboard',
      defaultRootObject: 'index.html',
      enableLogging: true,
      logBucket: props.accessLogs,
      logFilePrefix: 'cloudfront/',
      defaultBehavior: {
        origin: S3BucketOrigin.withOriginAccessControl(site),
        viewerProtocolPolicy: ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowedMethods: AllowedMethods.ALLOW_GET_HEAD,
        responseHeadersPolicy: headers,
        compress: true,
      },
    });
    this.url = `https://${this.distribution.distributionDomainName}/`;

    this.userPool = new UserPool(this, 'Users', {
      // people are invited by an admin (AdminCreateUser), never sign themselves up
      selfSignUpEnabled: false,
      signInAliases: { email: true },
      // an admin console for GPU spend: a second factor (an authenticator app) for everyone
      mfa: Mfa.REQUIRED,
      mfaSecondFactor: { otp: true, sms: false },
      passwordPolicy: {
        minLength: 12,
        requireDigits: true,
        requireLowercase: true,
        requireUppercase: true,
        requireSymbols: true,
      },
      accountRecovery: AccountRecovery.EMAIL_ONLY,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.client = this.userPool.addClient('Web', {
      // a browser app: public, no secret; the authorization code flow with PKCE
      generateSecret: false,
      authFlows: { userSrp: true },
      oAuth: {
        flows: { authorizationCodeGrant: true },
        scopes: [OAuthScope.OPENID, OAuthScope.EMAIL, OAuthScope.PROFILE],
        callbackUrls: [this.url],
        logoutUrls: [this.url],
      },
      preventUserExistenceErrors: true,
      idTokenValidity: Duration.hours(1),
      accessTokenValidity: Duration.hours(1),
    });
    this.domain = this.userPool.addDomain('SignIn', {
      cognitoDomain: { domainPrefix: props.signInDomainPrefix },
    });
    this.identityPool = new IdentityPool(this, 'Identities', {
      allowUnauthenticatedIdentities: false,
      authenticationProviders: {
        userPools: [
          new UserPoolAuthenticationProvider({ userPool: this.userPool, userPoolClient: this.client }),
        ],
      },
    });
    // a signed-in person may call the API and read events: the invoke policy, nothing more
    this.identityPool.authenticatedRole.addManagedPolicy(props.invokePolicy);

    this.deployment = new BucketDeployment(this, 'Deploy', {
      destinationBucket: site,
      distribution: this.distribution,
      sources: [
        Source.asset(DASHBOARD_DIR, {
          exclude: ['build.ts', 'tsconfig.json'],
          bundling: {
            // esbuild in this process; no Docker needed (the image is only named, as CDK requires)
            image: DockerImage.fromRegistry('public.ecr.aws/docker/library/node:22-alpine'),
            local: {
              tryBundle(outputDir) {
                writeDashboardSync(outputDir);
                return true;
              },
            },
          },
        }),
        Source.jsonData('config.json', {
          apiUrl: props.apiUrl,
          ...(props.eventsUrl ? { eventsUrl: props.eventsUrl } : {}),
          region,
          userPoolId: this.userPool.userPoolId,
          userPoolClientId: this.client.userPoolClientId,
          identityPoolId: this.identityPool.identityPoolId,
          signInDomain: this.domain.baseUrl(),
        }),
      ],
      memoryLimit: 256,
    });

    // stack outputs under plain names, as the README gives them
    new CfnOutput(this, 'Url', {
      value: this.url,
      description: 'the web dashboard (sign in as a user of WebUserPoolId)',
    }).overrideLogicalId('WebUrl');
    new CfnOutput(this, 'UserPoolId', {
      value: this.userPool.userPoolId,
      description:
        'invite people: aws cognito-idp admin-create-user --user-pool-id <this> --username <email>',
    }).overrideLogicalId('WebUserPoolId');
  }
}
