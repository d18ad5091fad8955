"""Applying a trained model: ``zoo`` (the shipped models and :class:`~sccnb.inference.zoo.
Landmarker`, the one way from a photo to landmarks), ``detect`` (face boxes and their
calibration to the training boxes), ``predict`` (photos to CSV/JSON and overlays),
``evalfolder`` (a model scored on your own annotated faces) and ``outputs`` (output folders that
never lose a user's file). See docs/photos.md."""
