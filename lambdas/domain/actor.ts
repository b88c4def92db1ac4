/**
 * Who is asking: an IAM principal, and whether it is an admin. Owners are principals; an assumed
 * role is the role, whatever its session name (a user who signs in again still owns their tasks).
 * Admins are the principals the stack's `adminPrincipals` names, matched the same way.
 */
export interface Actor {
  /** the principal's ARN, normalized (see `principalOf`) */
  readonly id: string;
  /** admins see and act on every owner's tasks */
  readonly admin: boolean;
}

/**
 * The principal an IAM caller ARN stands for: `arn:aws:sts::<acct>:assumed-role/<role>/<session>`
 * becomes `arn:aws:iam::<acct>:role/<role>`; users, roles and the root stay as they are.
 */
export function principalOf(arn: string): string {
  const m = /^arn:(aws[\w-]*):sts::(\d{12}):assumed-role\/([^/]+)\/.+$/.exec(arn);
  return m ? `arn:${m[1]}:iam::${m[2]}:role/${m[3]}` : arn;
}

/** A role ARN with a path (`role/team/name`) names the same role as `role/name` in an assumed-role ARN. */
function withoutRolePath(arn: string): string {
  return arn.replace(/^(arn:[\w-]+:iam::\d{12}:role\/)(?:[^/]+\/)+([^/]+)$/, '$1$2');
}

export function actorFor(callerArn: string, admins: readonly string[]): Actor {
  const id = principalOf(callerArn);
  const bare = withoutRolePath(id);
  return { id, admin: admins.some((a) => withoutRolePath(principalOf(a)) === bare) };
}

/** Whether the actor may see and act on a task of this owner. */
export const mayAccess = (actor: Actor, owner: string) => actor.admin || actor.id === owner;
