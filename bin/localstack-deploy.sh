#!/usr/bin/env bash
# Deploy the stack to LocalStack with cdklocal (needs Docker). Usage: npm run localstack:deploy
set -euo pipefail
cd "$(dirname "$0")/.."
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1} CDK_DISABLE_VERSION_CHECK=1
docker compose up -d --wait localstack
npx --yes aws-cdk-local@3.0.4 bootstrap
npx --yes aws-cdk-local@3.0.4 deploy --require-approval never "$@"
echo "deployed to LocalStack; run: AWS_ENDPOINT_URL=http://127.0.0.1:4566 npm run test:integration"
