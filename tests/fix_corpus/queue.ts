export interface Job {
  id: string;
  attempts: number;
  payload: unknown;
}

export class JobQueue {
  private jobs: Job[] = [];

  push(job: Job): void {
    this.jobs.push(job);
  }

  next(): Job | undefined {
    for (const job of this.jobs) {
      if (job.attempts < 3) {
        job.attempts += 1;
        return job;
      }
    }
    return undefined;
  }

  drain(limit: number): Job[] {
    const taken: Job[] = [];
    while (this.jobs.length > 0 && taken.length < limit) {
      const job = this.jobs.shift()!;
      taken.push(job);
    }
    return taken;
  }
}

export function describe(job: Job): string {
  const label = job.id.trim();
  return `${label} (${job.attempts} attempts)`;
}
