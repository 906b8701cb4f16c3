"""Videos: images.media and duration_s, faces.frame_s, first_s and last_s (one face row per
track of a video), in staging too; the report summary's videos and video_faces; the
reader views' new columns.

Revision ID: 0008
Revises: 0007
"""

from facepipe.core.migrations import execute, execute_file

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_file("0008_videos.sql")


def downgrade() -> None:
    # A view cannot lose columns in place: dropped and made again as 0005 made them. The
    # grants on them go with the views; env.py gives them back in this transaction.
    execute("DROP VIEW IF EXISTS {reader}.images, {reader}.faces, {reader}.day_summary")
    execute_file("0005_reader_views.sql")
    for table in ("images", "stage_images"):
        execute("ALTER TABLE {schema}.{t} DROP COLUMN IF EXISTS media, DROP COLUMN IF EXISTS duration_s", t=table)
    execute("ALTER TABLE {schema}.report_daily_summary DROP COLUMN IF EXISTS videos, DROP COLUMN IF EXISTS video_faces")
    execute("ALTER TABLE {schema}.suppressions DROP COLUMN IF EXISTS frame_s")
    for table in ("faces", "stage_faces"):
        execute(
            "ALTER TABLE {schema}.{t} DROP COLUMN IF EXISTS frame_s, DROP COLUMN IF EXISTS first_s,"
            " DROP COLUMN IF EXISTS last_s",
            t=table,
        )
