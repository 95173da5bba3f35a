"""The one training engine: `loop.train_steps` (a generator of optimizer steps) driven by `fit.fit`,
inside the one training-run skeleton every training stage uses (`run.TrainingRun`)."""
