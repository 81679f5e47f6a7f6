import { describe, expect, it } from 'vitest';
import { DatabaseError, describeUrl, openDatabase } from './index.ts';

describe('openDatabase (PostgreSQL)', () => {
  it('names host:port/db, never the password, when the server cannot be reached', async () => {
    // Port 9 (discard) has no PostgreSQL: connection refused.
    const db = await openDatabase({
      url: 'postgresql://po:s3cret@127.0.0.1:9/plant',
      retry: { retries: 2, minTimeoutMs: 10, maxTimeoutMs: 20 },
    });
    const e = await db.query('SELECT 1').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DatabaseError);
    expect(e).toMatchObject({ code: 'UNREACHABLE', target: '127.0.0.1:9/plant' });
    expect((e as Error).message).toMatch(
      /^\[po\/db\] Cannot reach the database at 127\.0\.0\.1:9\/plant .*3 attempts/,
    );
    expect((e as Error).message).not.toContain('s3cret');
    await db.close();
  });

  it('describes URLs without credentials', () => {
    expect(describeUrl('postgres://u:p@db.example:6543/po')).toBe('db.example:6543/po');
    expect(describeUrl('postgresql://u@localhost/x')).toBe('localhost:5432/x');
  });
});
