-- FlughafenDB schema ("Flughafen DB" by Stefan Pröll, Eva Zangerle and Wolfgang
-- Gassler, CC BY 4.0; see data/flughafendb/README.md), as MySQL/MariaDB DDL.
--
-- This file is the one schema source: flughafen-gen reads it to type every
-- query, and `flughafen-gen db load` creates it in MariaDB, PostgreSQL and
-- SQLite with a type mapping of its own per dialect.
-- Names are lower case; `from` and `to` are reserved words and always quoted.

CREATE TABLE airport (
  airport_id SMALLINT NOT NULL,
  iata CHAR(3) NULL,
  icao CHAR(4) NOT NULL,
  name VARCHAR(50) NOT NULL,
  PRIMARY KEY (airport_id),
  UNIQUE KEY icao_unq (icao),
  KEY name_idx (name),
  KEY iata_idx (iata)
);

CREATE TABLE airport_geo (
  airport_id SMALLINT NOT NULL,
  name VARCHAR(50) NOT NULL,
  city VARCHAR(50) NULL,
  country VARCHAR(50) NULL,
  latitude DECIMAL(11,8) NOT NULL,
  longitude DECIMAL(11,8) NOT NULL,
  PRIMARY KEY (airport_id),
  KEY country_idx (country),
  CONSTRAINT airport_geo_airport FOREIGN KEY (airport_id) REFERENCES airport (airport_id)
);

CREATE TABLE airline (
  airline_id SMALLINT NOT NULL,
  iata CHAR(2) NOT NULL,
  airlinename VARCHAR(30) NULL,
  base_airport SMALLINT NOT NULL,
  PRIMARY KEY (airline_id),
  UNIQUE KEY iata_unq (iata),
  KEY base_airport_idx (base_airport)
  -- The original declares base_airport a foreign key of airport; the public
  -- dump names two airports it does not hold (452 and 1418), so it is a plain index here.
);

CREATE TABLE airplane_type (
  type_id INT NOT NULL,
  identifier VARCHAR(50) NULL,
  description TEXT NULL,
  PRIMARY KEY (type_id)
);

CREATE TABLE airplane (
  airplane_id INT NOT NULL,
  capacity MEDIUMINT UNSIGNED NOT NULL,
  type_id INT NOT NULL,
  airline_id INT NOT NULL,
  PRIMARY KEY (airplane_id),
  KEY type_idx (type_id),
  KEY airline_idx (airline_id),
  CONSTRAINT airplane_type FOREIGN KEY (type_id) REFERENCES airplane_type (type_id)
);

CREATE TABLE flightschedule (
  flightno CHAR(8) NOT NULL,
  `from` SMALLINT NOT NULL,
  `to` SMALLINT NOT NULL,
  departure TIME NOT NULL,
  arrival TIME NOT NULL,
  airline_id SMALLINT NOT NULL,
  monday TINYINT(1) NOT NULL DEFAULT 0,
  tuesday TINYINT(1) NOT NULL DEFAULT 0,
  wednesday TINYINT(1) NOT NULL DEFAULT 0,
  thursday TINYINT(1) NOT NULL DEFAULT 0,
  friday TINYINT(1) NOT NULL DEFAULT 0,
  saturday TINYINT(1) NOT NULL DEFAULT 0,
  sunday TINYINT(1) NOT NULL DEFAULT 0,
  PRIMARY KEY (flightno),
  KEY from_idx (`from`),
  KEY to_idx (`to`),
  KEY airline_idx (airline_id),
  CONSTRAINT flightschedule_from FOREIGN KEY (`from`) REFERENCES airport (airport_id),
  CONSTRAINT flightschedule_to FOREIGN KEY (`to`) REFERENCES airport (airport_id),
  CONSTRAINT flightschedule_airline FOREIGN KEY (airline_id) REFERENCES airline (airline_id)
);

CREATE TABLE flight (
  flight_id INT NOT NULL AUTO_INCREMENT,
  flightno CHAR(8) NOT NULL,
  `from` SMALLINT NOT NULL,
  `to` SMALLINT NOT NULL,
  departure DATETIME NOT NULL,
  arrival DATETIME NOT NULL,
  airline_id SMALLINT NOT NULL,
  airplane_id INT NOT NULL,
  PRIMARY KEY (flight_id),
  KEY from_idx (`from`),
  KEY to_idx (`to`),
  KEY departure_idx (departure),
  KEY arrival_idx (arrival),
  KEY airline_idx (airline_id),
  KEY airplane_idx (airplane_id),
  KEY flightno_idx (flightno),
  CONSTRAINT flight_from FOREIGN KEY (`from`) REFERENCES airport (airport_id),
  CONSTRAINT flight_to FOREIGN KEY (`to`) REFERENCES airport (airport_id),
  CONSTRAINT flight_airline FOREIGN KEY (airline_id) REFERENCES airline (airline_id),
  CONSTRAINT flight_airplane FOREIGN KEY (airplane_id) REFERENCES airplane (airplane_id)
);

CREATE TABLE passenger (
  passenger_id INT NOT NULL AUTO_INCREMENT,
  passportno CHAR(9) NOT NULL,
  firstname VARCHAR(100) NOT NULL,
  lastname VARCHAR(100) NOT NULL,
  PRIMARY KEY (passenger_id),
  UNIQUE KEY pass_unq (passportno)
);

CREATE TABLE passengerdetails (
  passenger_id INT NOT NULL,
  birthdate DATE NOT NULL,
  sex CHAR(1) NULL,
  street VARCHAR(100) NOT NULL,
  city VARCHAR(100) NOT NULL,
  zip SMALLINT NOT NULL,
  country VARCHAR(100) NOT NULL,
  emailaddress VARCHAR(120) NULL,
  telephoneno VARCHAR(30) NULL,
  PRIMARY KEY (passenger_id),
  CONSTRAINT passengerdetails_passenger FOREIGN KEY (passenger_id) REFERENCES passenger (passenger_id)
);

CREATE TABLE booking (
  booking_id INT NOT NULL AUTO_INCREMENT,
  flight_id INT NOT NULL,
  seat CHAR(4) NULL,
  passenger_id INT NOT NULL,
  price DECIMAL(10,2) NOT NULL,
  PRIMARY KEY (booking_id),
  UNIQUE KEY seatplan_unq (flight_id, seat),
  KEY flight_idx (flight_id),
  KEY passenger_idx (passenger_id),
  CONSTRAINT booking_flight FOREIGN KEY (flight_id) REFERENCES flight (flight_id),
  CONSTRAINT booking_passenger FOREIGN KEY (passenger_id) REFERENCES passenger (passenger_id)
);
