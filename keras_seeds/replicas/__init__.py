"""The replica engine: K seed replicas of one Keras model trained in one fused
``fit`` (``model``), their members, stacked variables, vectorized step,
per-replica metrics, clipping, data feed, callbacks, early stopping, the
deployable ensemble and the bridge to the seed statistics (``study``)."""
