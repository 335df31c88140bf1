-- =====================================================
-- MIGRATION: Seed the default board
-- =====================================================
-- Version: 20250301_090000
-- Description: Every installation starts with one board
-- =====================================================

-- UP Migration
INSERT INTO boards (id, name) VALUES (1, 'My board; first');

-- =====================================================
-- DOWN Migration (Rollback)
-- =====================================================
DELETE FROM boards WHERE id = 1;
