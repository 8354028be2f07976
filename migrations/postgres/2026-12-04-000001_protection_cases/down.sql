DROP TABLE protection_measures;
DROP TABLE protection_cases;
