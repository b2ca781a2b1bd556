/**
 * The alarm: a short two-tone beep made with WebAudio (no audio file to serve). Browsers allow
 * audio only after a user gesture, so the AudioContext is created by the "enable sound" click.
 */
export class Alarm {
  #ctx: AudioContext | null = null;

  get enabled(): boolean {
    return this.#ctx !== null;
  }

  /** Call from a click handler. */
  async enable(): Promise<void> {
    this.#ctx ??= new AudioContext();
    await this.#ctx.resume();
    this.beep();
  }

  disable(): void {
    void this.#ctx?.close();
    this.#ctx = null;
  }

  beep(): void {
    const ctx = this.#ctx;
    if (!ctx) return;
    const t = ctx.currentTime;
    for (const [i, freq] of [880, 660].entries()) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = 'sine';
      osc.frequency.value = freq;
      const start = t + i * 0.18;
      gain.gain.setValueAtTime(0.0001, start);
      gain.gain.exponentialRampToValueAtTime(0.25, start + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.16);
      osc.connect(gain).connect(ctx.destination);
      osc.start(start);
      osc.stop(start + 0.17);
    }
  }
}
