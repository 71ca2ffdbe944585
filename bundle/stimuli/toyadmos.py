"""ad01: ToyADMOS ToyCar clips as 102400-byte log-mel spectrograms (float32, little-endian).

Rule, and where it comes from (mlcommons/tiny benchmark/training/anomaly_detection: common.py
`file_to_vector_array(..., method="librosa", save_bin=True)`, which wrote the
`<clip>_hist_librosa.bin` files; parameters from its baseline.yaml `feature:` section;
versions from its requirements.txt, librosa==0.6.0):
- Source: dev_data_ToyCar.zip (DCASE 2020 task 2 development data, Zenodo record 3678171),
  member `ToyCar/test/<clip>.wav`; `normal_id_01_00000003_hist_librosa.bin` comes from
  `normal_id_01_00000003.wav` (the name is `file_name.replace('.wav', '_hist_librosa.bin')`).
- Audio: read at its own rate without resampling or downmixing (librosa.load(sr=None,
  mono=False)); the ToyCar clips are 16 kHz mono, scaled to float32 in [-1, 1).
- Mel power spectrogram: n_fft 1024, hop 512, 128 mel bands, power 2.0, Hann window, centred
  frames with reflect padding (librosa 0.6's default; newer librosa pads with zeros unless told,
  so the pad mode is passed explicitly), Slaney mel scale and norm (librosa's defaults).
- Log: 20 / power * log10(mel + sys.float_info.epsilon), i.e. 10*log10 for power 2.
- Frames 50..249 (`log_mel_spectrogram[:, 50:250]`): 200 frames of a 313-frame 10 s clip.
  None of them reaches the padded clip edges, so the pad mode does not change the kept frames.
- Layout: transposed to (200 frames, 128 mels), float32, written with numpy's tofile (x86 and
  ARM hosts: little-endian), so the file is 200 consecutive 512-byte frames. EnergyRunner sends
  it in 2560-byte windows (5 frames = the model's 640 inputs) at a 512-byte (1-frame) stride,
  as y_labels.csv says (width 2560, stride 512): 196 windows per clip.
"""
from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path, PurePosixPath
from typing import Iterator

import numpy as np

from bundle.errors import ParseError

N_FFT, HOP, N_MELS, POWER = 1024, 512, 128, 2.0
FIRST_FRAME, FRAMES = 50, 200
SUFFIX = "_hist_librosa.bin"
_HINT = ("the archive matched its pinned SHA-256 but a member is not a ToyCar WAV clip: check the "
         "lock entry (archives: dev_data_ToyCar) against Zenodo record 3678171")


def wav_name(bin_name: str) -> str:
    """normal_id_01_00000003_hist_librosa.bin -> normal_id_01_00000003.wav"""
    if not bin_name.endswith(SUFFIX):
        raise ParseError(f"ad01 name {bin_name!r} does not end in {SUFFIX}", hint="restore the pinned y_labels.csv")
    return bin_name[: -len(SUFFIX)] + ".wav"


def log_mel(samples: np.ndarray, sr: int) -> np.ndarray:
    """The (200, 128) float32 log-mel frames of one clip, by the reference rule."""
    import librosa

    mel = librosa.feature.melspectrogram(y=np.asarray(samples, dtype=np.float32), sr=sr, n_fft=N_FFT,
                                         hop_length=HOP, n_mels=N_MELS, power=POWER, pad_mode="reflect")
    logmel = 20.0 / POWER * np.log10(mel + sys.float_info.epsilon)
    part = logmel[:, FIRST_FRAME:FIRST_FRAME + FRAMES]
    if part.shape[1] != FRAMES:
        raise ParseError(f"clip too short: {logmel.shape[1]} frames, the reference keeps frames "
                         f"{FIRST_FRAME}..{FIRST_FRAME + FRAMES - 1}", hint=_HINT)
    return np.ascontiguousarray(part.T, dtype=np.float32)


def feature_bytes(samples: np.ndarray, sr: int) -> bytes:
    return log_mel(samples, sr).astype("<f4").tobytes()


def read_wav(data: bytes, what: str) -> tuple[np.ndarray, int]:
    """Samples as float32 in [-1, 1) and the rate, as librosa.load(sr=None, mono=False) gives them."""
    import soundfile

    try:
        samples, sr = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError, ValueError) as err:
        raise ParseError(f"{what}: corrupt WAV ({err})", hint=_HINT) from None
    if samples.shape[1] != 1:
        raise ParseError(f"{what}: {samples.shape[1]} channels; the ToyCar clips are mono", hint=_HINT)
    return samples[:, 0], int(sr)


def stimuli(archive: Path, wanted: dict[str, int]) -> Iterator[tuple[str, bytes]]:
    """(file name, bytes) for every wanted name; names and labels are checked before any yield."""
    try:
        with zipfile.ZipFile(archive) as zf:
            tests = {PurePosixPath(n).name: n for n in zf.namelist()
                     if PurePosixPath(n).parent.name == "test" and n.endswith(".wav")}
            members = {name: tests.get(wav_name(name)) for name in wanted}
            missing = [n for n, m in members.items() if m is None]
            if missing:
                raise ParseError(f"{len(missing)} ad01 clip(s) not under test/ in {archive.name}, e.g. "
                                 f"{[wav_name(n) for n in missing[:3]]}", hint=_HINT)
            wrong = [n for n, lab in wanted.items() if int(n.startswith("anomaly_")) != lab]
            if wrong:
                raise ParseError(f"y_labels.csv label disagrees with the clip name for {wrong[:3]}",
                                 hint="restore the pinned y_labels.csv")
            for name, member in members.items():
                samples, sr = read_wav(zf.read(member), member)
                yield name, feature_bytes(samples, sr)
    except (zipfile.BadZipFile, EOFError, OSError) as err:
        raise ParseError(f"{archive}: corrupt archive ({type(err).__name__}: {err})", hint=_HINT) from None
