-- =====================================================
-- MIGRATION: Create boards and cards
-- =====================================================
-- Plugin: Kanban Board (kanban)
-- Version: 20250129_143000
-- Description: Boards, columns and cards
-- =====================================================

-- UP Migration
CREATE TABLE boards (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE cards (
  id INTEGER PRIMARY KEY,
  board_id INTEGER NOT NULL REFERENCES boards(id) ON DELETE CASCADE,
  title TEXT NOT NULL,
  lane TEXT NOT NULL DEFAULT 'todo'
);
CREATE INDEX idx_cards_board ON cards(board_id);

-- =====================================================
-- DOWN Migration (Rollback)
-- =====================================================
DROP TABLE cards;
DROP TABLE boards;
