/** The dashboard's bundle: nothing secret or deployment-specific is built into it. */
import { describe, expect, it } from 'vitest';
import { buildDashboard } from '../../dashboard/build.ts';

describe('the dashboard bundle', () => {
  it('holds no credentials, keys or deployment settings: those come from config.json at run time', async () => {
    const files = await buildDashboard();
    expect([...files.keys()]).toEqual(expect.arrayContaining(['index.html', 'main.js', 'main.css']));
    expect(files.has('config.json')).toBe(false);
    for (const [name, body] of files) {
      const text = Buffer.from(body).toString('utf8');
      expect(text, name).not.toMatch(/\b(AKIA|ASIA)[0-9A-Z]{16}\b/); // access key ids
      expect(text, name).not.toMatch(/-----BEGIN [A-Z ]*PRIVATE KEY-----/);
      expect(text, name).not.toMatch(/[a-z0-9]{10}\.execute-api\.[a-z0-9-]+\.amazonaws\.com/); // an API's URL
      expect(text, name).not.toMatch(/(us|eu|ap|sa|ca|me|af)-[a-z]+-\d_[A-Za-z0-9]{9}/); // a user pool id
    }
    // the sign-in code is its own chunk, loaded only by a deployed dashboard
    const main = Buffer.from(files.get('main.js') ?? new Uint8Array()).toString('utf8');
    expect(main).not.toContain('cognito-identity');
    expect(main).toMatch(/import\("\.\/auth-[A-Z0-9]+\.js"\)/);
  });
});
