"""The one training engine: `loop.train_steps` (a generator of optimizer steps) driven by `fit.fit`."""
