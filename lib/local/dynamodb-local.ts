/**
 * DynamoDB Local (AWS's own emulator, Java). The jar ships inside the npm package
 * amplify-dynamodb-simulator; we unpack only that package's tarball (not its 280 dependencies)
 * into .local/dynamodb-local the first time, then run it with the machine's Java.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../repo.ts';
import { freePort, waitForPort } from './net.ts';

const run = promisify(execFile);
const PACKAGE = 'amplify-dynamodb-simulator@2.9.30';
export const DYNAMODB_LOCAL_DIR = path.join(REPO_ROOT, '.local', 'dynamodb-local');

/** Make sure the DynamoDB Local jar is here, fetching it from the npm registry once. */
export async function ensureDynamoDbLocal(dir = DYNAMODB_LOCAL_DIR): Promise<string> {
  const jar = path.join(dir, 'DynamoDBLocal.jar');
  if (existsSync(jar)) return dir;
  const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  mkdirSync(tmp, { recursive: true });
  const { stdout } = await run('npm', ['pack', PACKAGE, '--silent', '--pack-destination', tmp], { cwd: tmp });
  const tarball = path.join(tmp, stdout.trim().split('\n').pop() ?? '');
  await run('tar', ['-xzf', tarball, '-C', tmp, 'package/emulator']);
  const emulator = path.join(tmp, 'package', 'emulator');
  if (!readdirSync(emulator).includes('DynamoDBLocal.jar'))
    throw new Error(`${PACKAGE} has no DynamoDBLocal.jar`);
  mkdirSync(path.dirname(dir), { recursive: true });
  try {
    // atomic: a process that raced us to it keeps its copy, and nobody deletes a jar in use
    renameSync(emulator, dir);
  } catch (e) {
    if (!existsSync(jar)) throw e;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}

/** Where a DynamoDB Local on a data folder records its pid, so a killed owner's one can be ended. */
const PID_FILE = 'dynamodb-local.pid';

/**
 * A DynamoDB Local left running on this data folder by a local cloud that was killed (SIGKILL leaves
 * its children): end it before starting another on the same files. Only a process whose command line
 * still names this folder is killed, so a reused pid is never hit.
 */
async function reapLeftover(pidFile: string, dbPath: string): Promise<void> {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  rmSync(pidFile, { force: true });
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return; // gone
  }
  if (!cmdline.split('\0').includes(dbPath)) return;
  try {
    process.kill(-pid, 'SIGKILL'); // its group: the watchdog shell and the JVM
  } catch {
    try {
      process.kill(pid, 'SIGKILL'); // a JVM recorded before the watchdog, which leads no group
    } catch {
      return;
    }
  }
  for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 50));
}

/**
 * Runs its arguments (the JVM) and ends them when the owner is gone: the owner holds the write end of
 * the shell's stdin, which the kernel closes however the owner ends (SIGKILL, a crash), and a reader
 * that sees the end of it stops the JVM. A SIGTERM is passed on; the shell exits with the JVM's status,
 * once the JVM has exited, so its files are closed when `stop` returns.
 */
const WATCHDOG = `exec 3<&0
"$@" </dev/null &
j=$!
trap 'kill -TERM $j 2>/dev/null' TERM INT
(read -r _ <&3; kill -TERM $j 2>/dev/null) &
w=$!
exec 3<&-
s=0
while kill -0 $j 2>/dev/null; do wait $j; s=$?; done
kill $w 2>/dev/null
exit $s`;

export interface DynamoDbLocal {
  port: number;
  endpoint: string;
  stop(): Promise<void>;
}

export async function startDynamoDbLocal(
  opts: { port?: number; dbPath?: string } = {},
): Promise<DynamoDbLocal> {
  const dir = await ensureDynamoDbLocal();
  const port = opts.port ?? (await freePort());
  const args = [
    `-Djava.library.path=${path.join(dir, 'DynamoDBLocal_lib')}`,
    '-Xms64m',
    '-Xmx512m',
    '-jar',
    path.join(dir, 'DynamoDBLocal.jar'),
    '-port',
    String(port),
    '-disableTelemetry',
    '-sharedDb',
  ];
  const pidFile = opts.dbPath ? path.join(opts.dbPath, PID_FILE) : undefined;
  if (opts.dbPath && pidFile) {
    mkdirSync(opts.dbPath, { recursive: true });
    await reapLeftover(pidFile, opts.dbPath);
    args.push('-dbPath', opts.dbPath);
  } else args.push('-inMemory');
  // in a group of its own (a Ctrl-C reaches the local cloud, which stops it after the tasks that write
  // to it), under a watchdog shell that ends it when its owner is gone however that happened
  const child: ChildProcess = spawn('sh', ['-c', WATCHDOG, 'dynamodb-local', 'java', ...args], {
    cwd: dir,
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  if (pidFile && child.pid) writeFileSync(pidFile, String(child.pid));
  let output = '';
  child.stdout?.on('data', (d) => {
    output += String(d);
  });
  child.stderr?.on('data', (d) => {
    output += String(d);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const ready = waitForPort(port, 60_000);
  const first = await Promise.race([
    ready.then(() => 'ready' as const),
    exited.then(() => 'exited' as const),
  ]);
  if (first === 'exited')
    throw new Error(`DynamoDB Local exited at start (is Java installed?):\n${output.slice(-2000)}`);
  return {
    port,
    endpoint: `http://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM'); // the watchdog passes it on, and exits once the JVM has
      const timer = setTimeout(() => {
        try {
          if (child.pid) process.kill(-child.pid, 'SIGKILL');
        } catch {
          // ended meanwhile
        }
      }, 5000);
      await exited;
      clearTimeout(timer);
      if (pidFile) rmSync(pidFile, { force: true });
    },
  };
}
