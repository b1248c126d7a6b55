"""The statistics: pure functions of trial records and arrays (metrics, survival methods, paired
tests, tables and figures). Nothing here runs a trial or knows a study."""
