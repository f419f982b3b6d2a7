// Test assembly for LearningCurves.Training; tests are added beside this file.
