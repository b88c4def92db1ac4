/**
 * IAM's StringLike (and resource ARN) matching as a regular expression: `*` any run of characters,
 * `?` exactly one, and `${*}`, `${?}`, `${$}` those characters themselves.
 */
export function iamPattern(pattern: string): RegExp {
  const body = pattern
    .split(/(\$\{[*?$]\}|[*?])/)
    .map((part) => {
      if (part === '*') return '.*';
      if (part === '?') return '.';
      const literal = /^\$\{([*?$])\}$/.exec(part)?.[1] ?? part;
      return literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('');
  return new RegExp(`^${body}$`);
}
