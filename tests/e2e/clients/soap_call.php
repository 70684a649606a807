<?php
// One SOAP call through PHP's SoapClient, configured as PHP's manual shows:
// {"wsdl", "login", "password", "operation", "fields"} on stdin; the result, or the
// SoapFault with its parsed detail, as JSON on stdout.
require __DIR__ . '/feedloop_client.php';
$call = json_decode(file_get_contents('php://stdin'), true);
$client = feedloop_client($call);
try {
    $result = $client->__soapCall($call['operation'], [$call['fields']]);
    echo json_encode(['result' => $result]);
} catch (SoapFault $fault) {
    echo json_encode(['fault' => [
        'code' => $fault->faultcode,
        'message' => $fault->faultstring,
        'detail' => $fault->detail ?? null,
    ]]);
}
