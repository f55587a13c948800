-- Outlets, their menus and table bookings. InnoDB + utf8mb4 throughout.
-- The runner splits statements at a ';' that ends a line.

CREATE TABLE outlets (
    id          INT UNSIGNED      NOT NULL AUTO_INCREMENT,
    slug        VARCHAR(64)       NOT NULL,
    name        VARCHAR(120)      NOT NULL,
    city        VARCHAR(80)       NOT NULL,
    address     VARCHAR(255)      NOT NULL,
    phone       VARCHAR(32)       NOT NULL,
    opens_at    TIME              NOT NULL,
    closes_at   TIME              NOT NULL,
    seats       SMALLINT UNSIGNED NOT NULL,
    created_at  TIMESTAMP         NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (id),
    UNIQUE KEY uq_outlets_slug (slug)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE menu_items (
    id            INT UNSIGNED  NOT NULL AUTO_INCREMENT,
    outlet_id     INT UNSIGNED  NOT NULL,
    category      VARCHAR(32)   NOT NULL,
    name          VARCHAR(120)  NOT NULL,
    description   VARCHAR(500)  NOT NULL DEFAULT '',
    price_idr     INT UNSIGNED  NOT NULL,
    is_featured   TINYINT(1)    NOT NULL DEFAULT 0,
    is_available  TINYINT(1)    NOT NULL DEFAULT 1,
    updated_at    TIMESTAMP     NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    PRIMARY KEY (id),
    KEY ix_menu_outlet_category (outlet_id, category, name),
    KEY ix_menu_category (category, outlet_id),
    KEY ix_menu_featured (is_featured, outlet_id),
    CONSTRAINT fk_menu_outlet FOREIGN KEY (outlet_id) REFERENCES outlets (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE bookings (
    id               BIGINT UNSIGNED   NOT NULL AUTO_INCREMENT,
    idempotency_key  VARCHAR(64)       NOT NULL,
    request_hash     CHAR(64)          NOT NULL,
    outlet_id        INT UNSIGNED      NOT NULL,
    name             VARCHAR(100)      NOT NULL,
    phone            VARCHAR(32)       NOT NULL,
    party_size       TINYINT UNSIGNED  NOT NULL,
    booked_for       DATETIME          NOT NULL COMMENT 'UTC',
    created_at       TIMESTAMP         NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (id),
    UNIQUE KEY uq_bookings_idempotency_key (idempotency_key),
    KEY ix_bookings_outlet_time (outlet_id, booked_for),
    CONSTRAINT fk_bookings_outlet FOREIGN KEY (outlet_id) REFERENCES outlets (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
