#!/usr/bin/perl
# Writes a small MaxMind-format database for tests, with Debian's MaxMind::DB::Writer.
#   write_mmdb.pl NETWORKS OUT.mmdb
# Each line of NETWORKS: CIDR COUNTRY LATITUDE LONGITUDE, where COUNTRY, LATITUDE and
# LONGITUDE may each be "-" (the record then has no such field). Blank lines and lines
# starting with # are skipped. Any other line is an error naming its number.
use strict;
use warnings;
use MaxMind::DB::Writer::Tree;

die "usage: $0 NETWORKS OUT.mmdb\n" unless @ARGV == 2;
my ( $in, $out ) = @ARGV;
open my $networks, '<', $in or die "$in: $!\n";

my %types = (
    country   => 'map',
    iso_code  => 'utf8_string',
    location  => 'map',
    latitude  => 'double',
    longitude => 'double',
);
my $tree = MaxMind::DB::Writer::Tree->new(
    ip_version               => 6,
    record_size              => 24,
    database_type            => 'prewarm-test-City',
    languages                => ['en'],
    description              => { en => 'prewarm test database' },
    map_key_type_callback    => sub { $types{ $_[0] } },
    remove_reserved_networks => 0,    # tests use the documentation ranges
);

my $number = qr/^-?\d+(?:\.\d+)?$/;
while ( my $line = <$networks> ) {
    chomp $line;
    next if $line =~ /^\s*(?:#|$)/;
    my @f = split ' ', $line;
    die "$in:$.: want CIDR COUNTRY LATITUDE LONGITUDE, got '$line'\n" unless @f == 4;
    my ( $cidr, $country, $lat, $lon ) = @f;
    die "$in:$.: '$cidr' is not a CIDR\n" unless $cidr =~ m{^[0-9a-fA-F:.]+/\d+$};
    die "$in:$.: country '$country' is not two letters or -\n"
        unless $country eq '-' || $country =~ /^[A-Za-z]{2}$/;
    for my $v ( $lat, $lon ) {
        die "$in:$.: '$v' is not a number or -\n" unless $v eq '-' || $v =~ $number;
    }
    die "$in:$.: give both LATITUDE and LONGITUDE or neither\n"
        if ( $lat eq '-' ) != ( $lon eq '-' );
    my %record;
    $record{country} = { iso_code => $country } unless $country eq '-';
    $record{location} = { latitude => $lat + 0, longitude => $lon + 0 } unless $lat eq '-';
    $tree->insert_network( $cidr, \%record );
}

my $tmp = "$out.tmp.$$";
open my $fh, '>:raw', $tmp or die "$tmp: $!\n";
$tree->write_tree($fh);
close $fh or die "$tmp: $!\n";
rename $tmp, $out or die "rename $tmp -> $out: $!\n";
