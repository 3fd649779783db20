"""Report writers: each a pure function from a GradeResult to text."""
