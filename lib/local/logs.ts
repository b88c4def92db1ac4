/**
 * A small CloudWatch Logs: log groups of streams of events, the operations the stack and the CLI
 * call (PutLogEvents, GetLogEvents, DescribeLogStreams, FilterLogEvents), optionally persisted as JSONL.
 */
import { appendFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { AwsError, type JsonService } from './json-service.ts';

export interface LogEvent {
  timestamp: number;
  message: string;
  ingestionTime: number;
}

export class LogStore {
  private readonly groups = new Map<string, Map<string, LogEvent[]>>();

  constructor(private readonly dir?: string) {
    if (dir) {
      mkdirSync(dir, { recursive: true });
      for (const f of readdirSync(dir)) {
        if (!f.endsWith('.jsonl')) continue;
        const [group, stream] = JSON.parse(decodeURIComponent(f.slice(0, -6))) as [string, string];
        const events = readFileSync(path.join(dir, f), 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as LogEvent);
        this.stream(group, stream, true).push(...events);
      }
    }
  }

  private stream(group: string, stream: string, create = false): LogEvent[] {
    let g = this.groups.get(group);
    if (!g) {
      if (!create)
        throw new AwsError('ResourceNotFoundException', `The specified log group does not exist: ${group}`);
      g = new Map();
      this.groups.set(group, g);
    }
    let s = g.get(stream);
    if (!s) {
      if (!create)
        throw new AwsError('ResourceNotFoundException', `The specified log stream does not exist: ${stream}`);
      s = [];
      g.set(stream, s);
    }
    return s;
  }

  /** Create a log group if it is not there (the template's groups exist from the start, as after deploy). */
  ensureGroup(group: string): void {
    if (!this.groups.has(group)) this.groups.set(group, new Map());
  }

  append(group: string, stream: string, message: string, timestamp = Date.now()): void {
    const e = { timestamp, message, ingestionTime: Date.now() };
    this.stream(group, stream, true).push(e);
    if (this.dir) {
      const file = path.join(this.dir, `${encodeURIComponent(JSON.stringify([group, stream]))}.jsonl`);
      appendFileSync(file, `${JSON.stringify(e)}\n`);
    }
  }

  read(group: string, stream: string): LogEvent[] {
    return this.stream(group, stream);
  }

  service(): JsonService {
    return {
      CreateLogGroup: (i) => {
        const name = String(i.logGroupName);
        if (this.groups.has(name))
          throw new AwsError('ResourceAlreadyExistsException', 'The specified log group already exists');
        this.groups.set(name, new Map());
        return {};
      },
      CreateLogStream: (i) => {
        this.stream(String(i.logGroupName), String(i.logStreamName), true);
        return {};
      },
      PutLogEvents: (i) => {
        for (const e of (i.logEvents as { timestamp: number; message: string }[]) ?? []) {
          this.append(String(i.logGroupName), String(i.logStreamName), e.message, e.timestamp);
        }
        return { nextSequenceToken: '0' };
      },
      DescribeLogGroups: () => ({
        logGroups: [...this.groups.keys()].map((logGroupName) => ({
          logGroupName,
          arn: `arn:aws:logs:::log-group:${logGroupName}`,
        })),
      }),
      DescribeLogStreams: (i) => {
        const g = this.groups.get(String(i.logGroupName));
        if (!g) throw new AwsError('ResourceNotFoundException', 'The specified log group does not exist');
        const prefix = String(i.logStreamNamePrefix ?? '');
        return {
          logStreams: [...g.entries()]
            .filter(([name]) => name.startsWith(prefix))
            .map(([logStreamName, ev]) => ({
              logStreamName,
              firstEventTimestamp: ev[0]?.timestamp,
              lastEventTimestamp: ev.at(-1)?.timestamp,
              storedBytes: 0,
            })),
        };
      },
      GetLogEvents: (i) => {
        const events = this.read(String(i.logGroupName), String(i.logStreamName));
        const limit = Math.min(Number(i.limit ?? 10_000), 10_000);
        const token = typeof i.nextToken === 'string' ? i.nextToken : undefined;
        const start = token
          ? Number(token.slice(2))
          : i.startFromHead === false
            ? Math.max(0, events.length - limit)
            : 0;
        if (!Number.isInteger(start) || start < 0)
          throw new AwsError('InvalidParameterException', 'The specified nextToken is invalid.');
        const page = events.slice(start, start + limit);
        const next = start + page.length;
        return { events: page, nextForwardToken: `f/${next}`, nextBackwardToken: `b/${start}` };
      },
      FilterLogEvents: (i) => {
        const g = this.groups.get(String(i.logGroupName));
        if (!g) throw new AwsError('ResourceNotFoundException', 'The specified log group does not exist');
        const names = (i.logStreamNames as string[] | undefined) ?? [...g.keys()];
        const pattern = typeof i.filterPattern === 'string' ? i.filterPattern.replace(/^"|"$/g, '') : '';
        const events = names.flatMap((logStreamName) =>
          (g.get(logStreamName) ?? [])
            .filter((e) => !pattern || e.message.includes(pattern))
            .map((e, n) => ({ ...e, logStreamName, eventId: `${logStreamName}/${n}` })),
        );
        return {
          events: events.sort((a, b) => a.timestamp - b.timestamp).slice(0, Number(i.limit ?? 10_000)),
        };
      },
    };
  }
}
