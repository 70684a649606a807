<?php
// AddRespondents through PHP's SoapClient (ext/soap, written in C), the client of a PHP
// integrator, configured as PHP's manual shows. {"wsdl", "login", "password",
// "campaign_id", "rows", "singles", "tag"} on stdin. The client is built from the WSDL
// and the rows prepared before any clock starts; timed is each call alone (SoapClient
// encoding the request from the WSDL's types, the HTTP exchange, and decoding the answer
// into objects), as bench/bulk.py times zeep's and xmlrpc.client's calls. First
// `singles` one-row calls, then one call of `rows` rows. Prints {"seconds" (the bulk
// call), "singles" (each one-row call's seconds), "invited" (rows the bulk call invited)}.
require __DIR__ . '/../../tests/e2e/clients/feedloop_client.php';
$call = json_decode(file_get_contents('php://stdin'), true);
$client = feedloop_client($call);
$tag = $call['tag'];
$singles = [];
for ($i = 0; $i < $call['singles']; $i++) {
    $started = hrtime(true);
    $client->__soapCall('AddRespondents', [[
        'campaign_id' => $call['campaign_id'],
        'respondents' => [['email' => "single$i-$tag@example.com"]]]]);
    $singles[] = (hrtime(true) - $started) / 1e9;
}
$rows = [];
for ($i = 0; $i < $call['rows']; $i++) {
    $rows[] = ['email' => "p$i-$tag@example.com", 'event_id' => "$tag-$i",
               'params' => [['name' => 'ticket', 'value' => (string)$i]]];
}
$started = hrtime(true);
$result = $client->__soapCall('AddRespondents', [[
    'campaign_id' => $call['campaign_id'], 'respondents' => $rows]]);
$seconds = (hrtime(true) - $started) / 1e9;
$result = $result->AddRespondentsResult;
echo json_encode(['seconds' => $seconds, 'singles' => $singles,
                  'invited' => $result->sent + $result->scheduled,
                  'results' => count($result->results)]);
