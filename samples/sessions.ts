export interface Session {
  id: string;
  userId: string;
  expiresAt: Date;
}

export interface SessionStore {
  list(): Promise<Session[]>;
  delete(id: string): Promise<void>;
}

export async function purgeExpired(store: SessionStore, now: Date = new Date()): Promise<number> {
  const sessions = await store.list();
  let removed = 0;
  for (const session of sessions) {
    if (session.expiresAt.getTime() <= now.getTime()) {
      store.delete(session.id);
      removed += 1;
    }
  }
  return removed;
}
