/**
 * Who still wants a shared fill: its requesters, and callers waiting for its commit. A small fill
 * finishes whether or not anyone still waits for it, so the next request is a hit; a large one (or
 * one of unknown length) that nobody has wanted for a grace period is to be let go. Bookkeeping
 * over a clock only: the fill asks as its bytes flow (a timer set from a requester's call would
 * belong to that call, not to the fill).
 */

export interface AttendanceRule {
  /** Objects larger than this, or of unknown length, are not filled on once nobody wants them... */
  unattendedMaxBytes: number;
  /** ...for this long (Pkg asks again a second after a broken artifact or registry download). */
  unattendedGraceMs: number;
}

export class Attendance {
  private attendees = 0;
  private unattendedSince: number | null = null;

  constructor(
    private readonly length: number | undefined,
    private readonly rule: AttendanceRule,
    private readonly now: () => number = Date.now,
  ) {}

  /** Someone wants the fill. Returns the release (calling it again does nothing). */
  attend(): () => void {
    this.attendees++;
    this.unattendedSince = null;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.attendees === 0) this.unattendedSince = this.now();
    };
  }

  /** Whether the fill is to be let go: too large to finish unattended, and wanted by nobody for the grace period. */
  get forsaken(): boolean {
    if (this.unattendedSince === null) return false;
    if (this.length !== undefined && this.length <= this.rule.unattendedMaxBytes) return false;
    return this.now() - this.unattendedSince >= this.rule.unattendedGraceMs;
  }
}
