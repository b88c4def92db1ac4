#!/usr/bin/env bash
# Deploy the stack to LocalStack Community with the project's own cdklocal and aws-cdk, as the
# LocalStack target (-c target=localstack: no GPU cluster, image, ECS or HTTP API, which Community
# cannot create). Usage: npm run localstack:deploy [-- extra cdk deploy arguments]
#   AWS_ENDPOINT_URL   LocalStack's endpoint (default http://127.0.0.1:4566); the S3 endpoint is derived
#   If nothing answers there, LocalStack is started with docker compose (docker-compose.yml).
set -euo pipefail
cd "$(dirname "$0")/.."
endpoint=${AWS_ENDPOINT_URL:-http://127.0.0.1:4566}
export AWS_ENDPOINT_URL=$endpoint AWS_ENDPOINT_URL_S3=${AWS_ENDPOINT_URL_S3:-$endpoint}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1} AWS_REGION=${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-1}}
export CDK_DISABLE_VERSION_CHECK=1
docker=${DOCKER:-docker}
cdklocal=${CDKLOCAL:-node_modules/.bin/cdklocal}

answers() {
  node -e "fetch(process.argv[1] + '/_localstack/health', { signal: AbortSignal.timeout(3000) })
    .then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))" "$endpoint"
}

if answers; then
  echo "LocalStack answers at $endpoint"
else
  echo "nothing answers at $endpoint: starting LocalStack with docker compose"
  "$docker" compose up -d --wait localstack
fi
"$cdklocal" bootstrap -c target=localstack
"$cdklocal" deploy -c target=localstack --require-approval never "$@"
echo "deployed to LocalStack at $endpoint (outputs above). Tasks fail there with a reason: LocalStack"
echo "Community cannot run ECS. To run the integration tests against it:"
echo "  AWS_ENDPOINT_URL=$endpoint npm run test:integration"
