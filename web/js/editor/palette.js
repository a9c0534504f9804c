// One colour language for music, shared with the Analyze Music preview (choreo/music/preview.py uses the same
// RGB values; tests/test_editor_routes.py checks they agree): a blue waveform, light grey beats, amber
// downbeats and one colour per section label (repeats of a label share it).

export const WAVEFORM_RGB = [79, 143, 216];
export const BEAT_RGB = [220, 220, 230];
export const DOWNBEAT_RGB = [255, 200, 60];
export const SECTION_RGB = [
  [70, 110, 190], [190, 120, 60], [80, 160, 90], [170, 80, 150], [60, 160, 170], [180, 170, 70],
];

/** CSS colour of an [r, g, b] triple with alpha `a`. */
export const css = ([r, g, b], a = 1) => `rgba(${r},${g},${b},${a})`;

/** The colour of a section label: by its first letter, as the preview picks it ("A", "B", ... in order). */
export function sectionRGB(label) {
  const code = (label || "A").charCodeAt(0) - 65;
  const n = SECTION_RGB.length;
  return SECTION_RGB[((code % n) + n) % n];
}
