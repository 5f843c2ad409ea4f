"""One training run: ``SeedCallback`` makes a ``fit`` repeatable bit for bit and
records it (``seed_callback``); ``BackupAndRestore`` resumes a killed run where
it stopped (``backup_and_restore``)."""
