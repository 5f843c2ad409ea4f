"""Kill a training run with SIGKILL in the middle of an epoch, start it again, and end
with the weights and History of a run that was never stopped, bit for bit.

    python examples/resume_run.py [WORK_DIR]

It runs this file three times as a training job: once uninterrupted, once killed at its
40th batch (in its second epoch), once more with the same command, which resumes from
the checkpoint `ks.BackupAndRestore` left.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile


def train(backup: str, kill_at: int) -> None:
    """The training job: what you would run on a machine that may die."""
    import keras
    from sklearn.datasets import load_digits

    import keras_seeds as ks
    from keras_seeds.demo import digits_mlp
    from keras_seeds.records.fingerprint import weights_fingerprint

    class KillAt(keras.callbacks.Callback):  # stands in for a preemption
        batches = 0

        def on_train_batch_end(self, batch, logs=None):
            KillAt.batches += 1
            if KillAt.batches == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

    digits = load_digits()
    x, y = (digits.data / 16).astype("float32"), digits.target
    seed = ks.SeedCallback(42, manifest=None)
    model = digits_mlp()  # 64-64(relu)-Dropout(0.2)-10
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=64, epochs=3, verbose=0, callbacks=[
        seed, ks.BackupAndRestore(backup, save_freq=10), KillAt()])
    print(json.dumps({"weights": weights_fingerprint(model), "history": history.history}))


def job(backup: str, kill_at: int = 0):
    """Runs the training job in a fresh process; its result, or None if it was killed."""
    run = subprocess.run([sys.executable, __file__, "--train", backup, str(kill_at)],
                         capture_output=True, text=True,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    print(f"  job (backup {os.path.basename(backup)}, kill at batch {kill_at or '-'}): "
          f"exit code {run.returncode}")
    if run.returncode not in (0, -signal.SIGKILL):
        raise SystemExit(run.stderr)
    return json.loads(run.stdout.splitlines()[-1]) if run.returncode == 0 else None


if __name__ == "__main__":
    if sys.argv[1:2] == ["--train"]:
        train(sys.argv[2], int(sys.argv[3]))
        sys.exit()
    work = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp()
    reference = job(os.path.join(work, "backup-reference"))
    killed = job(os.path.join(work, "backup"), kill_at=40)
    resumed = job(os.path.join(work, "backup"))
    assert killed is None, "the job was meant to be killed"
    print("uninterrupted:", reference["weights"])
    print("resumed:      ", resumed["weights"])
    print("bit-identical weights and History:", resumed == reference)
