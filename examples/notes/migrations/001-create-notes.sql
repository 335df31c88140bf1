-- =====================================================
-- MIGRATION: Create notes table
-- =====================================================
-- Plugin: Notes (notes)
-- Version: 001
-- Description: One row per note
-- =====================================================

-- UP Migration
CREATE TABLE notes (
  id INTEGER PRIMARY KEY,
  title TEXT NOT NULL,
  body TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL
);

-- =====================================================
-- DOWN Migration (Rollback)
-- =====================================================
DROP TABLE notes;
