// Test assembly for LearningCurves.Kernels; tests are added beside this file.
