/**
 * Narrows statements a CDK construct writes with `Resource: '*'` where the service supports
 * resource-level permissions and the construct does not use them (the Step Functions ECS
 * integration's `ecs:StopTask` and `ecs:DescribeTasks`). An aspect, so it sees the finished policy.
 */
import { Aspects, type IAspect, Stack } from 'aws-cdk-lib';
import { CfnPolicy, type Policy } from 'aws-cdk-lib/aws-iam';
import type { IConstruct } from 'constructs';

interface Statement {
  Action?: string | string[];
  Resource?: unknown;
}

class NarrowWildcard implements IAspect {
  constructor(
    private readonly actions: readonly string[],
    private readonly resources: readonly string[],
  ) {}

  visit(node: IConstruct): void {
    if (!(node instanceof CfnPolicy)) return;
    const stack = Stack.of(node);
    const doc = stack.resolve(node.policyDocument) as { Statement?: Statement[] };
    const narrowed: Statement[] = [];
    for (const s of doc.Statement ?? []) {
      const actions = [s.Action ?? []].flat();
      const ours = actions.filter((a) => this.actions.includes(a));
      if (s.Resource !== '*' || !ours.length) continue;
      // the actions that need '*' keep it; these move to a statement of their own
      const rest = actions.filter((a) => !this.actions.includes(a));
      if (rest.length) s.Action = rest.length === 1 ? rest[0] : rest;
      else s.Action = [];
      narrowed.push({
        ...s,
        Action: ours.length === 1 ? ours[0] : ours,
        Resource: stack.resolve([...this.resources]),
      });
    }
    if (!narrowed.length) return;
    const kept = (doc.Statement ?? []).filter((s) => [s.Action ?? []].flat().length > 0);
    node.policyDocument = { ...doc, Statement: [...kept, ...narrowed] };
  }
}

/** In `policy`, every statement of only these actions on `*` gets these resources instead. */
export function narrowWildcard(
  policy: Policy,
  actions: readonly string[],
  resources: readonly string[],
): void {
  Aspects.of(policy).add(new NarrowWildcard(actions, resources));
}
