-- =====================================================
-- MIGRATION: Add tags
-- =====================================================
-- Plugin: Notes (notes)
-- Version: 002
-- Description: Tags per note, and an index to find notes by tag
-- =====================================================

-- UP Migration
CREATE TABLE note_tags (
  note_id INTEGER NOT NULL REFERENCES notes(id) ON DELETE CASCADE,
  tag TEXT NOT NULL,
  PRIMARY KEY (note_id, tag)
);
CREATE INDEX idx_note_tags_tag ON note_tags(tag);

-- =====================================================
-- DOWN Migration (Rollback)
-- =====================================================
DROP INDEX idx_note_tags_tag;
DROP TABLE note_tags;
