/**
 * AudioWorklet processor for "Try it" recording: posts each block of the first input channel
 * (float32 at the AudioContext's rate) to the page, which resamples and featurises it with
 * emopipe's own front end.
 */
declare class AudioWorkletProcessor {
  readonly port: MessagePort;
}
declare function registerProcessor(name: string, ctor: new () => AudioWorkletProcessor): void;

class CaptureProcessor extends AudioWorkletProcessor {
  process(inputs: Float32Array[][]): boolean {
    const channels = inputs[0];
    if (channels && channels.length > 0) {
      // Mono mix, as the front end does for files.
      const n = channels[0]!.length;
      const mono = new Float32Array(n);
      for (const c of channels) for (let i = 0; i < n; i++) mono[i] += c[i]! / channels.length;
      this.port.postMessage(mono, [mono.buffer]);
    }
    return true;
  }
}

registerProcessor('emopipe-capture', CaptureProcessor);
