-- =====================================================
-- MIGRATION: Create guestbook entries
-- =====================================================
-- Plugin: Guestbook (guestbook)
-- Version: 001
-- Description: Shared mode: every table carries the plugin's prefix guestbook_
-- =====================================================

-- UP Migration
CREATE TABLE guestbook_entries (
  id TEXT PRIMARY KEY,
  author TEXT NOT NULL,
  message TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX idx_guestbook_entries_created ON guestbook_entries(created_at);

-- =====================================================
-- DOWN Migration (Rollback)
-- =====================================================
DROP TABLE guestbook_entries;
