/**
 * What the deployed Lambda bundles use in place of the SDK's default credential chain: lib/function.ts
 * aliases `@aws-sdk/credential-provider-node` to this module when it bundles a function. Lambda hands
 * every function its role's credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN), so the chain's other sources (profiles, SSO, web identity, the container and
 * instance endpoints, and the STS and SSO clients they bring) are never reached there; they were about a
 * quarter of every bundle. The local cloud and the tests run the sources, with the whole chain.
 */
import { type FromEnvInit, fromEnv } from '@aws-sdk/credential-provider-env';

export const defaultProvider = (init: FromEnvInit = {}): ReturnType<typeof fromEnv> => fromEnv(init);
