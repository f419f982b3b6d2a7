// Test assembly for LearningCurves.Analysis; tests are added beside this file.
